// The /predict logic, free of HTTP: Label Studio's request JSON in, its answer JSON out.
// For each task: resolve the image, get its embedding (cache, single flight), turn the
// context into a prompt, predict, keep the best mask when ambiguous, encode the brush RLE.
// Without context it answers {"results": []} and queues the tasks' embeddings in the background.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "labelstudio/label_config.hpp"
#include "models/segmenter.hpp"
#include "server/embedding_cache.hpp"
#include "server/embedding_store.hpp"
#include "server/image_fetcher.hpp"
#include "server/prefetcher.hpp"

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
                   Prefetcher& prefetcher, const DecodeLimits& limits, std::string model_version,
                   EmbeddingStore* store = nullptr);

    // Label Studio sends one task per click; more are refused (400) so one request cannot
    // hold a worker for many images. Without context only the first tasks are prefetched.
    static constexpr size_t kMaxTasks = 16;
    static constexpr size_t kMaxPrefetchTasks = 16;

    // Throws ls::RequestError (bad request, image, prompt) with the status to answer.
    PredictOutcome handle(const nlohmann::json& request);

    // True when handle() needs no download and no encoder pass: no context (answered at once,
    // prefetch in the background) or every task's image already in the cache. Throws
    // ls::RequestError for a request handle() would refuse before touching an image.
    bool ready(const nlohmann::json& request);

    // The embedding of the image a task URL names, from the cache or computed now.
    CacheLookup embedding_for(const std::string& url, int64_t task_id);

private:
    nlohmann::json predict_task(const nlohmann::json& task, const ls::BrushTarget& target,
                                const nlohmann::json& context_result, PredictOutcome& outcome);
    void prefetch_task(const nlohmann::json& task, const ls::BrushTarget& target, PredictOutcome& outcome);
    CacheLookup lookup(const ls::ImageSource& source, const std::string& key);

    std::shared_ptr<const Segmenter> model_;
    ImageFetcher& fetcher_;
    EmbeddingCache& cache_;
    EmbeddingStore* store_;
    Prefetcher& prefetcher_;
    DecodeLimits limits_;
    std::string model_version_;
    ls::LabelConfigCache configs_;
};

}  // namespace sam::server
