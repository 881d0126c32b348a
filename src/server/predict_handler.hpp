// The /predict logic, free of HTTP: Label Studio's request JSON in, its answer JSON out.
// For each task: turn the context into a prompt, pick the output tag it answers into, resolve
// the image, get its embedding (cache, single flight), predict (refining the previous answer when
// the annotator added a click), keep the best mask when ambiguous, encode the regions.
// Without context it answers {"results": []} and queues the tasks' embeddings in the background;
// the interactive events `capabilities` and `prewarm` answer at once.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "labelstudio/label_config.hpp"
#include "labelstudio/output_regions.hpp"
#include "models/segmenter.hpp"
#include "server/config.hpp"
#include "server/embedding_cache.hpp"
#include "server/embedding_store.hpp"
#include "server/image_fetcher.hpp"
#include "server/prefetcher.hpp"
#include "server/refine_memory.hpp"

namespace sam::server {

struct PredictOutcome {
    nlohmann::json body;
    int cache_hits = 0, cache_misses = 0;  // for the request log line
    int store_hits = 0;                     // misses the shared store answered
    int prefetched = 0;                     // images queued for a background embedding
};

class PredictHandler {
public:
    // store: the shared level under the cache, or nullptr.
    PredictHandler(std::shared_ptr<const Segmenter> model, ImageFetcher& fetcher, EmbeddingCache& cache,
                   Prefetcher& prefetcher, const ServerConfig& config, EmbeddingStore* store = nullptr);

    // Label Studio sends one task per click (and per prewarm); more are refused (400) so one
    // request cannot hold a worker for many images. Without context only the first tasks are
    // prefetched.
    static constexpr size_t kMaxTasks = 16;
    static constexpr size_t kMaxPrefetchTasks = 16;

    // Throws ls::RequestError (bad request, image, prompt) with the status to answer.
    PredictOutcome handle(const nlohmann::json& request);

    // True when handle() needs no download and no encoder pass: no context (answered at once,
    // prefetch in the background) or every task's image already in the cache. Throws
    // ls::RequestError for a request handle() would refuse before touching an image.
    bool ready(const nlohmann::json& request);

private:
    nlohmann::json predict_task(const nlohmann::json& task, const ls::LabelConfig& config,
                                const nlohmann::json& context_result, PredictOutcome& outcome);
    nlohmann::json prewarm_task(const nlohmann::json& task, const ls::OutputTarget& target, PredictOutcome& outcome);
    // Queues the image's embedding unless it is cached or being computed; true when it is now
    // embedding (or waiting to be).
    bool prefetch_task(const nlohmann::json& task, const ls::OutputTarget& target, PredictOutcome& outcome);
    CacheLookup lookup(const ls::ImageSource& source, const std::string& key);

    std::shared_ptr<const Segmenter> model_;
    ImageFetcher& fetcher_;
    EmbeddingCache& cache_;
    EmbeddingStore* store_;
    Prefetcher& prefetcher_;
    DecodeLimits limits_;
    std::string model_version_;
    std::string output_tag_;  // OUTPUT_TAG
    ls::OutputOptions output_options_;
    RefineMemory refine_;
    ls::LabelConfigCache configs_;
};

}  // namespace sam::server
