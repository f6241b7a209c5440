// libFuzzer target for the configuration-file parser: the probe's whole command line
// (probe/cli.h) fed any text as a `--config` file (probe/toml_config.h, tomlplusplus), plus the sampling
// option's own parser. No crash, no sanitizer report, no exception other than CLI11's parse
// errors (and std::stoll's, which CLI11 2.1 lets through; main() catches them); an accepted sampling value is within its documented range.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cache/sampler.h"
#include "probe/cli.h"
#include "probe/toml_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    CLI::App app;
    tapflow::probe::ProbeOptions options;
    tapflow::probe::add_probe_options(app, options);
    app.allow_config_extras(CLI::config_extras_mode::error);
    app.config_formatter(std::make_shared<tapflow::probe::TomlConfig>(app));
    std::istringstream in(text);
    try {
      app.parse_from_stream(in);
    } catch (const CLI::Error&) {
      // A bad configuration is a clear error for the user, not a crash.
    } catch (const std::out_of_range&) {
      // CLI11 2.1 lets std::stoll's error escape for a flag set to a huge number (found by this
      // target); main() turns it into exit 2 with one line, as for any bad argument.
    } catch (const std::invalid_argument&) {
      // The same for std::stoll's other error.
    }
  }
  std::string error;
  if (const auto sampling = tapflow::cache::parse_sampling(text, error)) {
    if (sampling->interval == 0) __builtin_trap();
  } else if (error.empty()) {
    __builtin_trap();  // every rejection says why
  }
  return 0;
}
