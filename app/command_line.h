// A small parser for `evax-node SUBCOMMAND [--flag value | --switch | POSITIONAL]...`.
// Flags are declared up front so that a misspelt one is an error, not a silent default.
#pragma once

#include <expected>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace evax::app {

struct CommandLine {
  std::map<std::string, std::string> values;  // --flag value
  std::set<std::string> switches;             // --switch
  std::vector<std::string> positional;

  bool has(const std::string& flag) const { return values.count(flag) || switches.count(flag); }
  std::string value_or(const std::string& flag, const std::string& fallback) const {
    auto it = values.find(flag);
    return it == values.end() ? fallback : it->second;
  }
  // The flag's value as an integer; an error names the flag.
  std::expected<int, std::string> integer(const std::string& flag, int fallback) const;
};

std::expected<CommandLine, std::string> parse_command_line(const std::vector<std::string>& args,
                                                           const std::set<std::string>& value_flags,
                                                           const std::set<std::string>& switch_flags);

}  // namespace evax::app
