// A Segmenter made of an image encoder and a prompt decoder (the native SamDecoder or an
// OnnxDecoder): SamPredictor.set_image + predict, split so the embedding can be cached.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "models/image_encoder.hpp"
#include "models/preprocess.hpp"
#include "models/segmenter.hpp"

namespace sam {

template <class Decoder>
class Predictor final : public Segmenter {
public:
    // key: model_key(), the encoder's weights (what an embedding depends on).
    Predictor(std::unique_ptr<ImageEncoder> encoder, Decoder decoder, std::string description, std::string key)
        : encoder_(std::move(encoder)),
          decoder_(std::move(decoder)),
          description_(std::move(description)),
          key_(std::move(key)) {}

    ImageEmbedding embed(const RgbImage& image) const override {
        ImageEmbedding e;
        e.orig_w = image.width;
        e.orig_h = image.height;
        const Tensor input = preprocess_image(image, &e.input_w, &e.input_h);
        // One encoder pass at a time: each already keeps every core busy (two at once took as
        // long as two in a row, measured), and each holds a few hundred MB of scratch.
        std::lock_guard<std::mutex> lock(encode_mutex_);
        e.features = encoder_->encode(input);
        return e;
    }
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const override {
        return decoder_.predict(embedding, prompt);
    }
    std::string description() const override { return description_; }
    std::string model_key() const override { return key_; }

private:
    std::unique_ptr<ImageEncoder> encoder_;
    Decoder decoder_;
    std::string description_, key_;
    mutable std::mutex encode_mutex_;
};

}  // namespace sam
