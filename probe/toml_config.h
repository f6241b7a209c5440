// The --config file: real TOML (tomlplusplus), checked here with line and column in every error
// ("tapflow.toml:3:1: unknown option 'inactive-timout' (did you mean 'inactive-timeout'?)"), then
// handed to CLI11 as its config items, so each value still goes through the option's own checks
// and the command line still wins. Keys are the long option names; arrays repeat an option.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

namespace tapflow::probe {

class TomlConfig : public CLI::Config {
 public:
  explicit TomlConfig(const CLI::App& app) : app_(app) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override;
  // Throws CLI::ConfigError naming file:line:column for a syntax error, an unknown option (with
  // the nearest known name), a table, a date, or a value of the wrong shape for its option.
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

  // `message` (a CLI11 error about an option's value) prefixed with "file:line:column: " when
  // the value came from the configuration file.
  std::string locate(const std::string& message) const;

 private:
  struct Source {
    std::string where;                // "file:line:column"
    std::vector<std::string> values;  // as handed to CLI11
  };
  const CLI::App& app_;
  mutable std::map<std::string, Source> sources_;  // by option name
};

// The option name nearest to `name` among `known` (edit distance at most 2, or a prefix), or "".
std::string nearest_name(const std::string& name, const std::vector<std::string>& known);

}  // namespace tapflow::probe
