// The labeling config (Label Studio's XML): parse_label_config, the public entry point the
// server calls for /setup and /predict, then the choice of the output tag a click answers into.
// Allowed outcomes: a config, or a RequestError. Checked: every output tag has the names and
// data key a result needs, and the chosen one is one of them.
#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const sam::ls::LabelConfig config =
            sam::ls::parse_label_config(std::string(reinterpret_cast<const char*>(data), size));
        for (const sam::ls::OutputTarget& t : config.outputs)
            if (t.from_name.empty() || t.to_name.empty() || t.data_key.empty()) __builtin_trap();
        const sam::ls::OutputTarget& chosen = config.output_for("");
        if (&chosen < config.outputs.data() || &chosen >= config.outputs.data() + config.outputs.size())
            __builtin_trap();
    } catch (const sam::ls::RequestError&) {
    }
    return 0;
}
