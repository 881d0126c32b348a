#include "io/zip_archive.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sam::io {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kEnd64LocatorSize = 20;
constexpr size_t kEnd64Size = 56;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;

uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t* p) { return uint32_t(rd16(p)) | (uint32_t(rd16(p + 2)) << 16); }
uint64_t rd64(const uint8_t* p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }

// Bounds-checked reading of the mapped file: every offset comes from the file itself.
struct Reader {
    const uint8_t* base;
    uint64_t size;
    const std::string& path;

    [[noreturn]] void fail(const std::string& what) const { throw ZipError(path + ": " + what); }
    const uint8_t* at(uint64_t offset, uint64_t len, const char* what) const {
        if (offset > size || len > size - offset)
            fail(std::string(what) + " at offset " + std::to_string(offset) + " (+" + std::to_string(len) +
                 " bytes) lies beyond the end of the file (" + std::to_string(size) + " bytes): truncated?");
        return base + offset;
    }
};

struct Directory {
    uint64_t count, offset, size;
};

// The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
uint64_t find_end_record(const Reader& r) {
    if (r.size < kEndSize) r.fail("not a zip archive (only " + std::to_string(r.size) + " bytes)");
    uint64_t lowest = r.size - kEndSize > 0xffff ? r.size - kEndSize - 0xffff : 0;
    for (uint64_t pos = r.size - kEndSize + 1; pos-- > lowest;) {
        const uint8_t* p = r.base + pos;
        if (rd32(p) == kEndSig && pos + kEndSize + rd16(p + 20) <= r.size) return pos;
    }
    if (r.base[0] == 0x80)
        r.fail("not a zip archive: this looks like a legacy (PyTorch < 1.6) pickle checkpoint; "
               "re-save it with a newer torch.save");
    r.fail("not a zip archive, or truncated: no end-of-central-directory record");
}

Directory read_directory_location(const Reader& r) {
    uint64_t end = find_end_record(r);
    const uint8_t* e = r.base + end;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0) r.fail("multi-disk zip archives are not supported");
    Directory d{rd16(e + 10), rd32(e + 16), rd32(e + 12)};
    // ZIP64: a locator right before the end record points at the 64-bit end record.
    if (end >= kEnd64LocatorSize && rd32(r.base + end - kEnd64LocatorSize) == kEnd64LocatorSig) {
        uint64_t off64 = rd64(r.base + end - kEnd64LocatorSize + 8);
        const uint8_t* z = r.at(off64, kEnd64Size, "ZIP64 end-of-central-directory record");
        if (rd32(z) != kEnd64Sig) r.fail("corrupt ZIP64 end-of-central-directory record at offset " + std::to_string(off64));
        d.count = rd64(z + 32);
        d.size = rd64(z + 40);
        d.offset = rd64(z + 48);
    } else if (d.count == 0xffff || d.offset == 0xffffffff || d.size == 0xffffffff) {
        r.fail("ZIP64 archive without its ZIP64 end-of-central-directory locator");
    }
    r.at(d.offset, d.size, "central directory");
    if (d.count > d.size / kCentralHeaderSize)
        r.fail("central directory claims " + std::to_string(d.count) + " entries in " + std::to_string(d.size) + " bytes");
    return d;
}

// Fields that overflow 32 bits live in the ZIP64 extra field (id 1), in this order.
void apply_zip64_extra(const Reader& r, const std::string& name, const uint8_t* extra, uint16_t extra_len,
                       uint64_t& usize, uint64_t& csize, uint64_t& offset) {
    size_t pos = 0;
    while (pos + 4 <= extra_len) {
        uint16_t id = rd16(extra + pos), len = rd16(extra + pos + 2);
        if (pos + 4 + len > extra_len) break;
        if (id == 0x0001) {
            const uint8_t* f = extra + pos + 4;
            size_t left = len;
            for (uint64_t* v : {&usize, &csize, &offset}) {
                if (*v != 0xffffffff) continue;
                if (left < 8) r.fail("entry '" + name + "': ZIP64 extra field too short");
                *v = rd64(f);
                f += 8;
                left -= 8;
            }
            return;
        }
        pos += 4 + len;
    }
    if (usize == 0xffffffff || csize == 0xffffffff || offset == 0xffffffff)
        r.fail("entry '" + name + "': 32-bit size or offset overflowed but no ZIP64 extra field is present");
}

}  // namespace

ZipArchive ZipArchive::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ZipError(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw ZipError(path + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw ZipError(path + ": not a regular file");
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size == 0) {
        ::close(fd);
        throw ZipError(path + ": not a zip archive (empty file)");
    }
    // Private + writable: pages stay shared with the page cache until someone writes to a
    // view, which then gets a private copy instead of a crash (the file never changes).
    // Under strict overcommit that can be refused; read-only is then the fallback.
    void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED && errno == ENOMEM) addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (addr == MAP_FAILED) throw ZipError(path + ": cannot mmap: " + std::strerror(err));

    ZipArchive z;
    z.path_ = path;
    z.file_size_ = size;
    z.mapping_ = std::shared_ptr<const void>(addr, [size](const void* p) { munmap(const_cast<void*>(p), size); });

    Reader r{static_cast<const uint8_t*>(addr), size, z.path_};
    Directory d = read_directory_location(r);
    z.entries_.reserve(d.count);
    uint64_t pos = d.offset, end = d.offset + d.size;
    for (uint64_t i = 0; i < d.count; ++i) {
        if (end - pos < kCentralHeaderSize) r.fail("central directory ends inside entry " + std::to_string(i));
        const uint8_t* c = r.base + pos;
        if (rd32(c) != kCentralHeaderSig)
            r.fail("corrupt central directory: entry " + std::to_string(i) + " at offset " + std::to_string(pos) +
                   " has no header signature");
        uint16_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
        uint64_t record = kCentralHeaderSize + uint64_t(name_len) + extra_len + comment_len;
        if (end - pos < record) r.fail("central directory ends inside entry " + std::to_string(i));
        Entry e;
        e.name.assign(reinterpret_cast<const char*>(c + kCentralHeaderSize), name_len);
        e.flags = rd16(c + 8);
        e.method = rd16(c + 10);
        e.crc32 = rd32(c + 16);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), local = rd32(c + 42);
        if (csize == 0xffffffff || usize == 0xffffffff || local == 0xffffffff)
            apply_zip64_extra(r, e.name, c + kCentralHeaderSize + name_len, extra_len, usize, csize, local);
        if (e.method == 0 && csize != usize)
            r.fail("entry '" + e.name + "' is stored but its sizes differ (" + std::to_string(csize) + " vs " +
                   std::to_string(usize) + ")");
        // The local header's name and extra lengths (alignment padding) can differ from the
        // central directory's: read them from the local header itself.
        const uint8_t* l = r.at(local, kLocalHeaderSize, ("local header of entry '" + e.name + "'").c_str());
        if (rd32(l) != kLocalHeaderSig)
            r.fail("entry '" + e.name + "': no local header signature at offset " + std::to_string(local));
        e.data_offset = local + kLocalHeaderSize + rd16(l + 26) + rd16(l + 28);
        e.size = csize;
        r.at(e.data_offset, e.size, ("data of entry '" + e.name + "'").c_str());
        z.by_name_[e.name] = z.entries_.size();
        z.entries_.push_back(std::move(e));
        pos += record;
    }
    return z;
}

const ZipArchive::Entry* ZipArchive::find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : &entries_[it->second];
}

std::span<const uint8_t> ZipArchive::data(const Entry& e) const {
    if (e.flags & 1) throw ZipError(path_ + ": entry '" + e.name + "' is encrypted");
    if (e.method != 0)
        throw ZipError(path_ + ": entry '" + e.name + "' is compressed (method " + std::to_string(e.method) +
                       "); only stored entries can be read");
    return {bytes() + e.data_offset, static_cast<size_t>(e.size)};
}

std::string ZipArchive::content_digest() const {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
    };
    for (const Entry& e : entries_) {
        const uint64_t len = e.name.size();
        mix(&len, sizeof len);  // no two name lists hash alike by shifting bytes between names
        mix(e.name.data(), e.name.size());
        mix(&e.crc32, sizeof e.crc32);
        mix(&e.size, sizeof e.size);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

}  // namespace sam::io
