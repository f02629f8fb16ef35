// Precompiled header for every torch-facing translation unit (see src/CMakeLists.txt).
#pragma once
#include <torch/torch.h>
