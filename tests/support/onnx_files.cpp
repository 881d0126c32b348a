#include "support/onnx_files.hpp"

namespace samtest {

OnnxModel::OnnxModel() {
    model.set_ir_version(8);
    model.add_opset_import()->set_version(17);
    graph = model.mutable_graph();
    graph->set_name("test");
}

OnnxModel& OnnxModel::input(const std::string& name, const std::vector<int64_t>& dims, int elem_type) {
    auto* in = graph->add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    for (int64_t d : dims) {
        auto* dim = tt->mutable_shape()->add_dim();
        if (d < 0) dim->set_dim_param("n");
        else dim->set_dim_value(d);
    }
    return *this;
}

OnnxModel& OnnxModel::output(const std::string& name, int elem_type) {
    auto* o = graph->add_output();
    o->set_name(name);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(elem_type);
    return *this;
}

OnnxModel& OnnxModel::init_f(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(1);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return *this;
}

OnnxModel& OnnxModel::init_i64(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& values) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(7);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    return *this;
}

::onnx::NodeProto* OnnxModel::node(const std::string& op, const std::vector<std::string>& inputs,
                                   const std::vector<std::string>& outputs) {
    auto* n = graph->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(graph->node_size()));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
}

}  // namespace samtest
