// ONNX model files built node by node for tests (onnx protobuf): small graphs, odd and hostile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace samtest {

struct OnnxModel {
    ::onnx::ModelProto model;
    ::onnx::GraphProto* graph;

    OnnxModel();  // IR 8, opset 17
    // A graph input or output; -1 in dims is a symbolic dimension. elem_type: 1 float, 7 int64.
    OnnxModel& input(const std::string& name, const std::vector<int64_t>& dims, int elem_type = 1);
    OnnxModel& output(const std::string& name, int elem_type = 1);
    // Initializers with their values, or (values left empty) one that declares dims but holds no data.
    OnnxModel& init_f(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);
    OnnxModel& init_i64(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& values);
    ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs);
    std::string bytes() const { return model.SerializeAsString(); }
};

}  // namespace samtest
