// nn::Module: a tree of modules owning named parameters and buffers, as in PyTorch.
// Parameter names are dotted paths (`fc1.weight`) so state dicts line up with PyTorch's.
#pragma once

#include <functional>
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

  // What clone() puts in the copy in place of each parameter and buffer; empty: the tensor itself.
  using TensorMap = std::function<Tensor(const Tensor&)>;
  // A replica of this module (DataParallel's): the same type, options and training mode, each
  // child cloned in turn with the same map, and map(t) in place of every parameter and buffer t
  // (by default t itself, so the copy computes with this module's tensors). Nothing is
  // initialised or drawn at random. Every built-in module implements it; one of your own
  // overrides it with clone_as() (see there), else this throws naming the module's type.
  virtual std::shared_ptr<Module> clone(const TensorMap& map = {}) const;

  // Clears gradients: drops them (set_to_none) or fills them with zeros.
  void zero_grad(bool set_to_none = true);

  // Parameters and buffers under their dotted names, detached and sharing memory.
  StateDict state_dict() const;
  // Copies values in. strict: every name must match both ways. Shapes must always match.
  // Errors list every missing, unexpected and mis-shaped entry at once.
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  // A shallow copy: training mode, parameters, buffers and children are shared. Derived classes
  // get a copy constructor from it, which clone_as() starts from.
  Module(const Module&) = default;

  // clone()'s body for most modules: a copy of `self` by M's copy constructor (its options and
  // members), whose parameters and buffers become map()'s and whose children their clones. A
  // member that holds a parameter, buffer or child must then be pointed at the copy's:
  //   std::shared_ptr<Module> Linear::clone(const TensorMap& map) const {
  //     auto copy = clone_as(*this, map);
  //     copy->weight = copy->registered_parameter("weight");
  //     return copy;
  //   }
  template <class M>
  std::shared_ptr<M> clone_as(const M& self, const TensorMap& map) const {
    auto copy = std::make_shared<M>(self);
    static_cast<Module&>(*copy).replace_tensors_and_children(map);
    return copy;
  }
  // This module's own (not a child's) parameter, buffer or child of that name; an error if none.
  const Tensor& registered_parameter(const std::string& name) const;
  const Tensor& registered_buffer(const std::string& name) const;
  template <class M>
  std::shared_ptr<M> registered_module(const std::string& name) const {
    auto child = std::dynamic_pointer_cast<M>(registered_child(name));
    VOLT_CHECK(child != nullptr, "Module: child '", name, "' is not of the type asked for");
    return child;
  }

  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void replace_tensors_and_children(const TensorMap& map);
  const std::shared_ptr<Module>& registered_child(const std::string& name) const;
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
