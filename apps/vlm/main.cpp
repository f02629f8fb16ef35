// `vlm`: a thin dispatcher. Exit codes: 0 success, 1 a user error (one line on stderr), 2 a usage error,
// 3 an internal error.
#include <cstdio>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include "apps/vlm/commands.h"
#include "core/error.h"

namespace {

std::string version_text() {
  std::string s = "vlm " VLM_VERSION " (libtorch " TORCH_VERSION;
#ifdef VLM_WITH_CUDA
  s += ", CUDA kernels";
#else
  s += ", CPU only";
#endif
  return s + ")";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vlm: run and fine-tune vision-language models from Hugging Face checkpoints", "vlm"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.fallthrough(false);

  const std::vector<vlm::cli::Command> commands = {
      vlm::cli::add_inspect(app),
      vlm::cli::add_generate(app),
      vlm::cli::add_tokenize(app),
      vlm::cli::add_template(app),
      vlm::cli::add_preprocess(app),
      vlm::cli::add_train(app),
      vlm::cli::add_fuse(app),
      vlm::cli::add_eval(app),
      vlm::cli::add_data(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vlm: usage error: %s\nRun 'vlm --help' for usage.\n", e.what());
    return 2;
  }

  try {
    for (const auto& c : commands)
      if (c.app->parsed()) c.run();
    return 0;
  } catch (const vlm::Error& e) {
    std::fprintf(stderr, "vlm: error: %s\n", e.what());
    switch (e.kind()) {
      case vlm::ErrorKind::kUser: return 1;
      case vlm::ErrorKind::kUsage: return 2;
      case vlm::ErrorKind::kInternal: return 3;
    }
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "vlm: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "vlm: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vlm: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
