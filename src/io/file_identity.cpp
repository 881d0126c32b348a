#include "io/file_identity.hpp"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace sam::io {

namespace {

struct Sha256 {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
    Sha256() {
        if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("OpenSSL cannot compute SHA-256");
    }
    void update(const void* data, size_t size) { EVP_DigestUpdate(ctx.get(), data, size); }
    template <typename T>
    void update_value(T v) {
        update(&v, sizeof v);  // little-endian on every machine we build for
    }
    std::string hex(size_t digits = 64) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx.get(), md, &len);
        static const char* kHex = "0123456789abcdef";
        std::string out;
        for (unsigned i = 0; i < len && out.size() < digits; ++i) {
            out += kHex[md[i] >> 4];
            out += kHex[md[i] & 15];
        }
        return out;
    }
};

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
    Sha256 h;
    h.update(data, size);
    return h.hex();
}

std::string zip_content_id(const ZipArchive& zip) {
    Sha256 h;
    for (const ZipArchive::Entry& e : zip.entries()) {
        const size_t slash = e.name.find('/');
        const std::string name = slash == std::string::npos ? e.name : e.name.substr(slash + 1);
        h.update_value(static_cast<uint64_t>(name.size()));
        h.update(name.data(), name.size());
        h.update_value(e.crc32);
        h.update_value(e.size);
        h.update_value(e.method);
    }
    return h.hex(32);
}

}  // namespace sam::io
