// SAM 2 as a Segmenter (SAM2ImagePredictor: set_image + predict, split so the embedding can be
// cached): the square float preprocessing and the Hiera encoder make the embedding (the 64x64 map
// and the two high-resolution maps), Sam2Decoder answers the prompts.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "models/hiera_encoder.hpp"
#include "models/sam2_decoder.hpp"
#include "models/segmenter.hpp"

namespace sam {

class Sam2Predictor final : public Segmenter {
public:
    Sam2Predictor(std::unique_ptr<HieraEncoder> encoder, Sam2Decoder decoder, std::string description,
                  std::string key);

    ImageEmbedding embed(const RgbImage& image) const override;
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const override;
    std::string description() const override { return description_; }
    std::string model_key() const override { return key_; }

private:
    std::unique_ptr<HieraEncoder> encoder_;
    Sam2Decoder decoder_;
    std::string description_, key_;
    mutable std::mutex encode_mutex_;  // one encoder pass at a time, as Predictor
};

}  // namespace sam
