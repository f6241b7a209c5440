// The probe's command line: every option of a probe run, with its checks and help text, added to
// a CLI11 app. Shared by main() and the configuration-file fuzz target, so what is fuzzed is what
// runs. `--config FILE` gives the same options from a TOML file (probe/toml_config.h).
#pragma once

#include <CLI/CLI.hpp>

#include "probe/probe_options.h"

namespace tapflow::probe {

void add_probe_options(CLI::App& app, ProbeOptions& options);

// One warning per option given (on the command line or in --config) that does nothing in the
// mode the others choose: --engine-type/--engine-id with -v 9/10, --observation-domain and the
// template refreshes with -v 5, capture settings and --pidfile with -r, --scale-sampled without
// -s. Options that are surely a mistake (--rx-queues or a filter with -r) are refused elsewhere.
std::vector<std::string> options_without_effect(const CLI::App& app, const ProbeOptions& options);

// Options that cannot work together (a --fields element with -v 5): the one-line reason, to
// stop with before anything starts.
std::optional<std::string> refused_combination(const ProbeOptions& options);

}  // namespace tapflow::probe
