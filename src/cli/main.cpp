// The sam-ml-backend binary: `serve` (default) and small tools.
#include <cstdio>

int main(int argc, char** argv) {
    std::fprintf(stderr, "sam-ml-backend: not built yet\n");
    return 1;
}
