// The labeling config (Label Studio's XML): parse_label_config, the public entry point the
// server calls for /setup and /predict. Allowed outcomes: a target, or a RequestError.
// Checked: a target always has the names and data key the brush result needs.
#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const sam::ls::BrushTarget t = sam::ls::parse_label_config(std::string(reinterpret_cast<const char*>(data), size));
        if (t.from_name.empty() || t.to_name.empty() || t.data_key.empty()) __builtin_trap();
    } catch (const sam::ls::RequestError&) {
    }
    return 0;
}
