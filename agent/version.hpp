#pragma once
namespace provium::agent {
inline constexpr const char* kAgentVersion = "0.1.0";
}
