// The `vlm` command: each subcommand lives in its own file and is listed here. A subcommand's add_* function
// declares it and its flags on `app` and returns it with the function that runs it once parsing succeeded.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace vlm::cli {

struct Command {
  CLI::App* app;
  std::function<void()> run;
};

Command add_inspect(CLI::App& app);
Command add_generate(CLI::App& app);
Command add_tokenize(CLI::App& app);
Command add_template(CLI::App& app);
Command add_preprocess(CLI::App& app);
Command add_train(CLI::App& app);
Command add_fuse(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_data(CLI::App& app);

}  // namespace vlm::cli
