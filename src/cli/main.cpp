// The sam-ml-backend binary: `serve` (the default) runs the Label Studio ML backend.
#include <cstdio>
#include <cstring>
#include <string>

int serve_main(int argc, char** argv);  // serve.cpp

int main(int argc, char** argv) {
    // No command, or flags only: serve, as the Python backend does when started bare.
    if (argc < 2 || argv[1][0] == '-') return serve_main(argc, argv);
    std::string command = argv[1];
    if (command == "serve") return serve_main(argc - 1, argv + 1);
    std::fprintf(stderr, "sam-ml-backend: unknown command '%s' (commands: serve; try --help)\n", argv[1]);
    return 2;
}
