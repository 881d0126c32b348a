// The PyTorch checkpoint reader: zip central directory, pickle, tensor records, conversions,
// and the architecture checks of the model loaders. An input starting "PK\3\4" is the whole
// file; any other input is data.pkl, wrapped here in a zip with storages and a valid CRC (a
// mutated pickle inside a zip would only ever reach the CRC check).
// Anything but a CheckpointError escaping is a finding.
#include <cstring>

#include "fuzz_util.hpp"
#include "io/checkpoint.hpp"
#include "models/vit_encoder.hpp"
#include "support/torch_files.hpp"

namespace {

std::string as_checkpoint(const uint8_t* data, size_t size) {
    std::vector<std::pair<std::string, std::string>> files = {
        {"archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size)}};
    for (int k = 0; k < 8; ++k) files.push_back({"archive/data/" + std::to_string(k), std::string(4096, '\x3c')});
    files.push_back({"archive/version", "3\n"});
    return samtest::make_zip(files);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static samfuzz::MemFile file("checkpoint.pt");
    const bool whole_file = size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0;
    const std::string bytes = whole_file ? std::string() : as_checkpoint(data, size);
    const std::string& path = whole_file ? file.write(data, size)
                                         : file.write(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    try {
        const auto ck = sam::io::Checkpoint::open(path);
        for (const std::string& name : ck.names()) {
            const sam::Shape shape = ck.shape(name);
            if (sam::shape_numel(shape) <= (int64_t(1) << 20)) {
                const sam::Tensor t = ck.get(name);
                if (t.numel() > 0 && !t.data) __builtin_trap();
            }
        }
        if (sam::looks_like_vit(ck)) sam::infer_vit_config(ck);
    } catch (const sam::io::CheckpointError&) {
    }
    return 0;
}
