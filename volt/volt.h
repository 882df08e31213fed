// volt: a small tensor and reverse-mode autograd engine. Include this for the whole library.
#pragma once

#include "volt/autograd/engine.h"
#include "volt/autograd/grad_mode.h"
#include "volt/autograd/gradcheck.h"
#include "volt/autograd/node.h"
#include "volt/autograd/ops.h"
#include "volt/core/device.h"
#include "volt/core/dtype.h"
#include "volt/core/error.h"
#include "volt/core/generator.h"
#include "volt/core/tensor.h"
#include "volt/nn/functional.h"
#include "volt/nn/init.h"
#include "volt/nn/module.h"
#include "volt/nn/modules.h"
#include "volt/nn/optim/optimizer.h"
#include "volt/nn/optim/scheduler.h"
