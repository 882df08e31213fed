// nn::Module: a tree of modules owning named parameters and buffers, as in PyTorch.
// Parameter names are dotted paths (`fc1.weight`) so state dicts line up with PyTorch's.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "volt/core/tensor.h"

namespace volt::nn {

// Name → tensor, sorted by name (deterministic files and messages).
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-input forward used by Sequential; modules with other signatures add overloads.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }

  // Sets training mode here and below (dropout is active only in training).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Converts parameters and buffers in place: the Tensor handles an optimizer holds stay valid.
  void to(DType dtype);  // floating parameters and buffers only
  void to(Device device);

  // Clears gradients: drops them (set_to_none) or fills them with zeros.
  void zero_grad(bool set_to_none = true);

  // Parameters and buffers under their dotted names, detached and sharing memory.
  StateDict state_dict() const;
  // Copies values in. strict: every name must match both ways. Shapes must always match.
  // Errors list every missing, unexpected and mis-shaped entry at once.
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  template <class F>
  void visit_tensors(F&& f);

  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace volt::nn
