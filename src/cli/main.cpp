// The sam-ml-backend binary: `serve` (the default) runs the Label Studio ML backend;
// `segment` tries a checkpoint on one image.
#include <cstdio>
#include <cstring>
#include <string>

#include "tensor/allocator.hpp"
#include "tensor/isa.hpp"
#include "tensor/threads.hpp"

int serve_main(int argc, char** argv);    // serve.cpp
int segment_main(int argc, char** argv);  // segment.cpp

int main(int argc, char** argv) {
    sam::threads::apply_openmp_environment(argv);
    sam::tune_allocator_for_inference();
    try {
        sam::isa::configure_from_env();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: %s\n", e.what());
        return 2;
    }
    // No command, or flags only: serve, as the Python backend does when started bare.
    if (argc < 2 || argv[1][0] == '-') return serve_main(argc, argv);
    std::string command = argv[1];
    if (command == "serve") return serve_main(argc - 1, argv + 1);
    if (command == "segment") return segment_main(argc - 1, argv + 1);
    std::fprintf(stderr, "sam-ml-backend: unknown command '%s' (commands: serve, segment; try --help)\n", argv[1]);
    return 2;
}
