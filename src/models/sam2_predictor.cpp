#include "models/sam2_predictor.hpp"

#include "models/preprocess.hpp"

namespace sam {

Sam2Predictor::Sam2Predictor(std::unique_ptr<HieraEncoder> encoder, Sam2Decoder decoder, std::string description,
                             std::string key)
    : encoder_(std::move(encoder)),
      decoder_(std::move(decoder)),
      description_(std::move(description)),
      key_(std::move(key)) {}

ImageEmbedding Sam2Predictor::embed(const RgbImage& image) const {
    ImageEmbedding e;
    e.orig_w = image.width;
    e.orig_h = image.height;
    e.input_w = e.input_h = kEncoderInputSize;
    const Tensor input = preprocess_image_square(image);
    std::lock_guard<std::mutex> lock(encode_mutex_);
    HieraFeatures f = encoder_->encode(input);
    e.features = std::move(f.image_embed);
    e.high_res_0 = std::move(f.high_res_0);
    e.high_res_1 = std::move(f.high_res_1);
    return e;
}

Prediction Sam2Predictor::predict(const ImageEmbedding& embedding, const Prompt& prompt) const {
    return decoder_.predict(embedding, prompt);
}

}  // namespace sam
