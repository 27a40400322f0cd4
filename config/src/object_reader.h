// ObjectReader: reads one JSON object of the config, recording every key it reads as known and
// every problem with its key path; unknown keys are reported when it goes. With the AE title
// and address checks the config's readers share. Internal to the config module.
#pragma once

#include <arpa/inet.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "evax/config/node_config.h"

namespace evax::config {

using json = nlohmann::json;

// Walks one JSON object: each read records the key as known and any problem with its path;
// on destruction every key that was never read is reported, so a misspelt key is an error
// rather than a silently ignored setting.
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string path, std::vector<ConfigError>& errors)
      : value_(value), path_(std::move(path)), errors_(errors) {
    if (!value_.is_object()) fail("", "must be an object");
  }
  ~ObjectReader() {
    if (!value_.is_object()) return;
    for (const auto& [key, unused] : value_.items())
      if (!known_.count(key)) fail(key, "unknown key");
  }
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  void fail(const std::string& key, const std::string& message) {
    errors_.push_back({key.empty() ? path_ : child_path(key), message});
  }

  const json* find(const char* key) {
    known_.insert(key);
    if (!value_.is_object()) return nullptr;
    auto it = value_.find(key);
    return it == value_.end() || it->is_null() ? nullptr : &*it;
  }

  void text(const char* key, std::string& target) {
    if (const json* v = find(key)) {
      if (v->is_string()) target = v->get<std::string>();
      else fail(key, "must be a string");
    }
  }

  void choice(const char* key, std::string& target, const std::vector<std::string>& choices) {
    std::string value = target;
    text(key, value);
    for (const auto& c : choices)
      if (c == value) {
        target = value;
        return;
      }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    fail(key, "must be one of " + list);
  }

  template <class Int>
  void integer(const char* key, Int& target, std::int64_t low, std::int64_t high) {
    if (const json* v = find(key)) {
      if (v->is_number_integer() && v->get<std::int64_t>() >= low && v->get<std::int64_t>() <= high) {
        target = static_cast<Int>(v->get<std::int64_t>());
      } else {
        fail(key, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
      }
    }
  }

  void number(const char* key, double& target, double low, double high) {
    if (const json* v = find(key)) {
      if (v->is_number() && v->get<double>() >= low && v->get<double>() <= high) {
        target = v->get<double>();
      } else {
        fail(key, "must be a number from " + format_number(low) + " to " + format_number(high));
      }
    }
  }

  static std::string format_number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
  }

  void boolean(const char* key, bool& target) {
    if (const json* v = find(key)) {
      if (v->is_boolean()) target = v->get<bool>();
      else fail(key, "must be true or false");
    }
  }

  const json* array(const char* key) {
    const json* v = find(key);
    if (v && !v->is_array()) {
      fail(key, "must be a list");
      return nullptr;
    }
    return v;
  }

  void file_names(const char* key, std::vector<std::string>& target) {
    if (const json* list = array(key)) {
      for (const auto& item : *list) {
        if (item.is_string()) target.push_back(item.get<std::string>());
        else fail(key, "must be a list of file names");
      }
    }
  }

  // A list whose items are each one of `choices`, at least one, none twice.
  void choice_list(const char* key, std::vector<std::string>& target, const std::vector<std::string>& choices) {
    const json* list = array(key);
    if (!list) return;
    std::string allowed;
    for (const auto& c : choices) allowed += (allowed.empty() ? "" : ", ") + c;
    if (list->empty()) fail(key, "must name at least one of " + allowed + " (leave it out for all)");
    for (const auto& item : *list) {
      const std::string value = item.is_string() ? item.get<std::string>() : item.dump();
      if (std::find(choices.begin(), choices.end(), value) == choices.end())
        fail(key, "\"" + value + "\" is not one of " + allowed);
      else if (std::find(target.begin(), target.end(), value) != target.end())
        fail(key, "names \"" + value + "\" twice");
      else
        target.push_back(value);
    }
  }

  std::vector<ConfigError>& errors() { return errors_; }

 private:
  const json& value_;
  std::string path_;
  std::vector<ConfigError>& errors_;
  std::set<std::string> known_;
};

// notifications[] (notifications_config.cc).
void read_notifications(const json& list, const std::string& path, std::vector<ConfigError>& errors,
                        std::vector<Notification>& out);

// PS3.5: up to 16 characters of the default repertoire, no backslash or control
// characters, not only spaces.
inline bool valid_ae_title(const std::string& ae) {
  if (ae.empty() || ae.size() > 16 || ae.find_first_not_of(' ') == std::string::npos) return false;
  for (unsigned char c : ae)
    if (c < 0x20 || c >= 0x7f || c == '\\') return false;
  return true;
}

// The destinations list (destinations_config.cc).
void read_destinations(const json& list, const std::string& path, std::vector<ConfigError>& errors,
                       std::vector<Destination>& out);

inline bool valid_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// The config's `sources` (PACS the node may query and retrieve from) and `retrieval` section.
void read_sources(const json& list, const std::string& path, std::vector<ConfigError>& errors, std::vector<Source>& out);
void read_retrieval(ObjectReader& r, RetrievalSettings& settings);

}  // namespace evax::config
