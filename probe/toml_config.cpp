#include "probe/toml_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>

namespace tapflow::probe {

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string location(const std::string& file, const toml::source_region& where) {
  return file + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

// A scalar as CLI11 reads it from the command line; false for a date, time, table or array.
bool scalar_text(const toml::node& node, std::string& text) {
  if (const auto* s = node.as_string()) {
    text = s->get();
  } else if (const auto* i = node.as_integer()) {
    text = std::to_string(i->get());
  } else if (const auto* f = node.as_floating_point()) {
    std::ostringstream out;
    out << f->get();
    text = out.str();
  } else if (const auto* b = node.as_boolean()) {
    text = b->get() ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

std::string kind(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "a value";
  }
}

}  // namespace

std::string nearest_name(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : known) {
    const std::size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best.empty() && name.size() >= 4) {
    for (const auto& candidate : known) {
      if (candidate.starts_with(name)) return candidate;
    }
  }
  return best;
}

std::string TomlConfig::to_config(const CLI::App*, bool, bool, std::string) const { return {}; }

std::vector<CLI::ConfigItem> TomlConfig::from_config(std::istream& input) const {
  std::string file = "config";
  if (const CLI::Option* option = app_.get_config_ptr(); option != nullptr && !option->results().empty()) {
    file = option->results().back();
  }
  sources_.clear();
  toml::table table;
  try {
    table = toml::parse(input, file);
  } catch (const toml::parse_error& e) {
    throw CLI::ConfigError(location(file, e.source()) + ": " + std::string(e.description()));
  }
  std::vector<std::string> known;
  for (const CLI::Option* option : app_.get_options()) {
    for (const auto& name : option->get_lnames()) known.push_back(name);
  }
  std::vector<CLI::ConfigItem> items;
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const std::string where = location(file, key.source().begin.line != 0 ? key.source() : node.source());
    if (node.is_table()) {
      throw CLI::ConfigError(where + ": '[" + name + "]': tapflow's options have no sections; put them at the top level");
    }
    const CLI::Option* option = app_.get_option_no_throw("--" + name);
    if (option == nullptr && name.size() == 1) option = app_.get_option_no_throw("-" + name);
    if (option == nullptr) option = app_.get_option_no_throw(name);
    if (option == nullptr || name == "config" || name == "help") {
      const std::string near = nearest_name(name, known);
      throw CLI::ConfigError(where + ": unknown option '" + name + "'" +
                             (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
    }
    const bool flag = option->get_expected_min() == 0;
    CLI::ConfigItem item;
    item.name = name;
    auto add = [&](const toml::node& value) {
      const std::string at = location(file, value.source());
      std::string text;
      if (!scalar_text(value, text)) {
        throw CLI::ConfigError(at + ": '" + name + "' is " + kind(value) + "; expected a string, number or boolean");
      }
      if (flag && !value.is_boolean()) {
        throw CLI::ConfigError(at + ": '" + name + "' is a switch: expected true or false");
      }
      if (!flag && value.is_boolean()) {
        throw CLI::ConfigError(at + ": '" + name + "' takes a value, not true or false");
      }
      item.inputs.push_back(std::move(text));
    };
    if (const toml::array* array = node.as_array()) {
      if (flag || option->get_items_expected_max() == 1) {
        throw CLI::ConfigError(where + ": '" + name + "' takes one value, not an array");
      }
      for (const toml::node& element : *array) add(element);
    } else {
      add(node);
    }
    sources_[name] = Source{where, item.inputs};
    items.push_back(std::move(item));
  }
  return items;
}

std::string TomlConfig::locate(const std::string& message) const {
  for (const auto& [name, source] : sources_) {
    const CLI::Option* option = app_.get_option_no_throw("--" + name);
    const std::string label = option != nullptr ? option->get_name() : name;
    if (message.find(label) == std::string::npos && message.find(name) == std::string::npos) continue;
    for (const auto& value : source.values) {
      if (message.find(value) != std::string::npos) return source.where + ": " + message;
    }
  }
  return message;
}

}  // namespace tapflow::probe
