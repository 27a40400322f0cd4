#include "command_line.h"

namespace evax::app {

std::expected<int, std::string> CommandLine::integer(const std::string& flag, int fallback) const {
  auto it = values.find(flag);
  if (it == values.end()) return fallback;
  try {
    std::size_t used = 0;
    const int value = std::stoi(it->second, &used);
    if (used == it->second.size()) return value;
  } catch (const std::exception&) {
  }
  return std::unexpected(flag + " needs an integer, not '" + it->second + "'");
}

std::expected<CommandLine, std::string> parse_command_line(const std::vector<std::string>& args,
                                                           const std::set<std::string>& value_flags,
                                                           const std::set<std::string>& switch_flags) {
  CommandLine out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      out.positional.push_back(arg);
      continue;
    }
    if (switch_flags.count(arg)) {
      out.switches.insert(arg);
    } else if (value_flags.count(arg)) {
      if (i + 1 >= args.size()) return std::unexpected(arg + " needs a value");
      out.values[arg] = args[++i];
    } else {
      return std::unexpected("unknown option " + arg);
    }
  }
  return out;
}

}  // namespace evax::app
