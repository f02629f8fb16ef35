// Which part of a vision-language model a checkpoint tensor belongs to.
#pragma once

namespace vlm {

enum class Component { kVision, kProjector, kLanguage };

inline const char* component_name(Component c) {
  switch (c) {
    case Component::kVision: return "vision tower";
    case Component::kProjector: return "projector";
    case Component::kLanguage: return "language model";
  }
  return "?";
}

}  // namespace vlm
