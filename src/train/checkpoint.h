// Training checkpoints: OUTPUT/checkpoints/step-NNNNNN/ holding the adapter (PEFT files) or the full model, the
// optimizer state and RNG states (optimizer.safetensors) and trainer_state.json (step, data position, schedule,
// counters). A checkpoint is written into a hidden temporary folder, every file fsynced, then renamed into place
// and the parent fsynced: it is either whole or absent. The newest K are kept.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace vlm::train {

// "step-000042"
std::string checkpoint_name(int64_t step);

// Writes OUTPUT/checkpoints/step-NNNNNN: `fill(tmp_dir)` writes the files into a temporary folder first. Leftover
// temporary folders of interrupted saves are removed. Returns the checkpoint's path.
std::string write_checkpoint(const std::string& output_dir, int64_t step,
                             const std::function<void(const std::string& dir)>& fill);

// The complete checkpoints of OUTPUT/checkpoints, oldest first, as (step, path).
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& output_dir);

// Removes all but the newest `keep` checkpoints (keep <= 0 keeps all).
void prune_checkpoints(const std::string& output_dir, int64_t keep);

}  // namespace vlm::train
