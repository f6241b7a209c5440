// The probe's command line: every option of a probe run, with its checks and help text, added to
// a CLI11 app. Shared by main() and the configuration-file fuzz target, so what is fuzzed is what
// runs. `--config FILE` gives the same options from a TOML/INI file.
#pragma once

#include <CLI/CLI.hpp>

#include "probe/probe_options.h"

namespace tapflow::probe {

void add_probe_options(CLI::App& app, ProbeOptions& options);

}  // namespace tapflow::probe
