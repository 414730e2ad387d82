"""Typical mistakes in extra_accelerators/accelerators.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_BENCHMARK_HEAD = '''def benchmark(fn, warmup=3, repeats=10, timer=time.perf_counter, synchronize=None):
    sync = synchronize if synchronize is not None else (lambda: None)
'''

_SYNCHRONIZER = '''

def synchronizer(device):
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else None
'''

_TIMED_LOOP = '''    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = timer()
        fn()
        sync()
        times.append(timer() - start)
'''

_MIXED_HEAD = '''def mixed_precision_step(model, optimizer, x, y, dtype=torch.bfloat16):
'''

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- exercise 1: to_device
    WrongAnswer(
        name="to-device-one-level-only",
        cell="to-device",
        code='''def to_device(obj, device, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(v.to(device) if isinstance(v, torch.Tensor) else v for v in obj)
    return obj
''',
        loses={"test-to-device": 1.6},
        note="no recursion: tensors inside a list inside the dict stay where they were; named tuples fail",
    ),
    WrongAnswer(
        name="to-device-tuples-become-lists",
        cell="to-device",
        code='''def to_device(obj, device, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_device(v, device, non_blocking) for v in obj]
    return obj
''',
        loses={"test-to-device": 2.0},
        note="every tuple comes back as a list",
    ),
    WrongAnswer(
        name="to-device-numpy-arrays-become-tensors",
        cell="to-device",
        code='''def to_device(obj, device, non_blocking=False):
    if isinstance(obj, np.ndarray):
        obj = torch.as_tensor(obj)
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, non_blocking) for v in obj)
    return obj
''',
        loses={"test-to-device": 1.2},
        note="numpy arrays are converted: not what the function promises (anything else is returned as it is)",
    ),
    # ---------------------------------------------------------------- exercise 2: costs and roofline
    WrongAnswer(
        name="matmul-flops-count-only-multiplications",
        cell="roofline",
        code='''def matmul_cost(m, k, n, bytes_per_element=4):
    return m * k * n, (m * k + k * n + m * n) * bytes_per_element


def elementwise_cost(numel, n_inputs=2, flops_per_element=1, bytes_per_element=4):
    return numel * flops_per_element, (n_inputs + 1) * numel * bytes_per_element


def roofline_time(flops, n_bytes, peak_flops, bandwidth):
    return max(flops / peak_flops, n_bytes / bandwidth)
''',
        loses={"test-roofline": 1.5},
        note="a multiply-add is 2 FLOPs: m k n multiplications and as many additions",
    ),
    WrongAnswer(
        name="elementwise-bytes-forget-the-output",
        cell="roofline",
        code='''def matmul_cost(m, k, n, bytes_per_element=4):
    return 2 * m * k * n, (m * k + k * n + m * n) * bytes_per_element


def elementwise_cost(numel, n_inputs=2, flops_per_element=1, bytes_per_element=4):
    return numel * flops_per_element, n_inputs * numel * bytes_per_element


def roofline_time(flops, n_bytes, peak_flops, bandwidth):
    return max(flops / peak_flops, n_bytes / bandwidth)
''',
        loses={"test-roofline": 1.5},
        note="the result is written to memory too",
    ),
    WrongAnswer(
        name="roofline-adds-the-two-times",
        cell="roofline",
        code='''def matmul_cost(m, k, n, bytes_per_element=4):
    return 2 * m * k * n, (m * k + k * n + m * n) * bytes_per_element


def elementwise_cost(numel, n_inputs=2, flops_per_element=1, bytes_per_element=4):
    return numel * flops_per_element, (n_inputs + 1) * numel * bytes_per_element


def roofline_time(flops, n_bytes, peak_flops, bandwidth):
    return flops / peak_flops + n_bytes / bandwidth
''',
        loses={"test-roofline": 1.5},
        note="arithmetic and memory traffic overlap: the bound is the larger time, not the sum",
    ),
    # ---------------------------------------------------------------- exercise 3: benchmark
    WrongAnswer(
        name="benchmark-never-synchronizes",
        cell="benchmark",
        code='''def benchmark(fn, warmup=3, repeats=10, timer=time.perf_counter, synchronize=None):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = timer()
        fn()
        times.append(timer() - start)
    return statistics.median(times)
''' + _SYNCHRONIZER,
        loses={"test-benchmark": 3.2},
        note="asynchronous work: the timer measures the launch, not the work",
    ),
    WrongAnswer(
        name="benchmark-mean-instead-of-median",
        cell="benchmark",
        code=_BENCHMARK_HEAD + _TIMED_LOOP + '''    return statistics.mean(times)
''' + _SYNCHRONIZER,
        loses={"test-benchmark": 3.2},
        note="one outlier moves the mean",
    ),
    WrongAnswer(
        name="benchmark-times-the-warm-up",
        cell="benchmark",
        code=_BENCHMARK_HEAD + '''    times = []
    for _ in range(warmup + repeats):
        sync()
        start = timer()
        fn()
        sync()
        times.append(timer() - start)
    return statistics.median(times)
''' + _SYNCHRONIZER,
        loses={"test-benchmark": 4.0},
        note="the slow first calls are measured with the others",
    ),
    WrongAnswer(
        name="benchmark-torch-median-of-an-even-count",
        cell="benchmark",
        code=_BENCHMARK_HEAD + _TIMED_LOOP + '''    return torch.tensor(times, dtype=torch.float64).median().item()
''' + _SYNCHRONIZER,
        loses={"test-benchmark": 0.8},
        note="torch.median returns the lower of the two middle values for an even count",
    ),
    # ---------------------------------------------------------------- exercise 4: autocast
    WrongAnswer(
        name="autocast-forgotten",
        cell="autocast-forward",
        code='''def autocast_forward(model, x, dtype=torch.bfloat16):
    return model(x).float()
''',
        loses={"test-autocast-forward": 1.2},
        note="a float32 forward: right within the tolerance, but not mixed precision",
    ),
    WrongAnswer(
        name="autocast-returns-bf16",
        cell="autocast-forward",
        code='''def autocast_forward(model, x, dtype=torch.bfloat16):
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        return model(x)
''',
        loses={"test-autocast-forward": 0.6},
        note="the output is left in the 16-bit format",
    ),
    WrongAnswer(
        name="autocast-casts-the-model",
        cell="autocast-forward",
        code='''def autocast_forward(model, x, dtype=torch.bfloat16):
    model.to(dtype)
    return model(x.to(dtype)).float()
''',
        loses={"test-autocast-forward": 0.6},
        note="outputs within bf16's tolerance, but the caller's model is now a bf16 model",
    ),
    # ---------------------------------------------------------------- exercise 5: mixed-precision step
    WrongAnswer(
        name="mixed-step-returns-the-loss-tensor",
        cell="mixed-step",
        code=_MIXED_HEAD + '''    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss
''',
        loses={"test-mixed-step": 0.75},
        says=("expected a float", "got Tensor"),
        note="a tensor (with its graph) instead of loss.item()",
    ),
    WrongAnswer(
        name="mixed-step-never-zeroes-gradients",
        cell="mixed-step",
        code=_MIXED_HEAD + '''    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()
''',
        loses={"test-mixed-step": 2.25},
        note="gradients accumulate over the steps",
    ),
    WrongAnswer(
        name="mixed-step-bf16-weights",
        cell="mixed-step",
        code=_MIXED_HEAD + '''    model.to(dtype)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()
''',
        loses={"test-mixed-step": 2.25},
        note="no float32 master weights: small updates are rounded away",
    ),
    # ---------------------------------------------------------------- exercise 6: one graph
    WrongAnswer(
        name="clip-update-python-if",
        cell="clip-update",
        code='''def clip_update(w, g, max_norm, lr):
    norm = g.norm()
    if norm > max_norm:
        g = g * (max_norm / norm)
    return w - lr * g
''',
        loses={"test-clip-update": 1.0},
        note="right values, but a graph break: the tensor's value decides a Python branch",
    ),
    WrongAnswer(
        name="clip-update-item",
        cell="clip-update",
        code='''def clip_update(w, g, max_norm, lr):
    norm = g.norm().item()
    if norm > max_norm:
        g = g * (max_norm / norm)
    return w - lr * g
''',
        loses={"test-clip-update": 1.0},
        note=".item() reads the value back to the host: a synchronisation and a graph break",
    ),
    WrongAnswer(
        name="clip-update-clamps-values",
        cell="clip-update",
        code='''def clip_update(w, g, max_norm, lr):
    return w - lr * torch.clamp(g, -max_norm, max_norm)
''',
        loses={"test-clip-update": 2.0},
        note="clipping each value instead of the norm",
    ),
]
