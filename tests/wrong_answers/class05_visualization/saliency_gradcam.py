"""Typical mistakes in class05_visualization/saliency_gradcam.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_SALIENCY_HEAD = '''def gradient_saliency(model, images, target_class):
'''

_GRAD_CAM_HOOKS = '''def grad_cam(model, layer, images, target_class):
    model.eval()
    saved = {}

    def save_activation(module, inputs, output):
        saved["A"] = output

    def save_gradient(module, grad_input, grad_output):
        saved["dA"] = grad_output[0]

    handles = [layer.register_forward_hook(save_activation),
               layer.register_full_backward_hook(save_gradient)]
'''

_GRAD_CAM_BACKWARD = '''    try:
        scores = model(images)
        target = torch.as_tensor(target_class, device=scores.device).expand(len(images))
        scores.gather(1, target[:, None]).sum().backward()
    finally:
        for handle in handles:
            handle.remove()
        model.zero_grad(set_to_none=True)
    A, dA = saved["A"].detach(), saved["dA"].detach()
    alpha = dA.mean(dim=(2, 3), keepdim=True)
'''

_ASCENT_HEAD = '''def class_score_ascent(model, target_class, steps=100, lr=0.05, l2=1e-3, image_shape=(1, 24, 24), seed=0):
    model.eval()
    model_device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = (0.01 * torch.randn(1, *image_shape, generator=generator)).to(model_device).requires_grad_(True)
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="saliency-signed-channel-sum",
        cell="saliency",
        code=_SALIENCY_HEAD + '''    model.eval()
    x = images.detach().clone().requires_grad_(True)
    scores = model(x)
    target = torch.as_tensor(target_class, device=scores.device).expand(len(x))
    (grad,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), x)
    return grad.sum(dim=1)
''',
        loses={"test-saliency": 2.4},
        note="signed gradients summed over channels: negative values, and channels cancel out",
    ),
    WrongAnswer(
        name="saliency-forgets-eval-mode",
        cell="saliency",
        code=_SALIENCY_HEAD + '''    x = images.detach().clone().requires_grad_(True)
    scores = model(x)
    target = torch.as_tensor(target_class, device=scores.device).expand(len(x))
    (grad,) = torch.autograd.grad(scores.gather(1, target[:, None]).sum(), x)
    return grad.abs().amax(dim=1)
''',
        loses={"test-saliency": 1.8},
        note="a model given in train mode keeps its dropout: the map explains a random sub-network",
    ),
    WrongAnswer(
        name="occlusion-returns-occluded-probability",
        cell="occlusion",
        code='''def occlusion_map(model, image, target_class, patch, stride):
    model.eval()
    _, H, W = image.shape
    tops, lefts = range(0, H - patch + 1, stride), range(0, W - patch + 1, stride)
    occluded = image.detach().repeat(len(tops) * len(lefts), 1, 1, 1)
    for k, (top, left) in enumerate(itertools.product(tops, lefts)):
        occluded[k, :, top:top + patch, left:left + patch] = 0
    with torch.no_grad():
        probs = F.softmax(model(occluded), dim=1)[:, target_class]
    return probs.reshape(len(tops), len(lefts))
''',
        loses={"test-occlusion": 2.25},
        note="the probability of the occluded image, not its drop from the original's",
    ),
    WrongAnswer(
        name="occlusion-modifies-image-in-place",
        cell="occlusion",
        code='''def occlusion_map(model, image, target_class, patch, stride):
    model.eval()
    _, H, W = image.shape
    tops, lefts = range(0, H - patch + 1, stride), range(0, W - patch + 1, stride)
    out = torch.zeros(len(tops), len(lefts), device=image.device)
    with torch.no_grad():
        p0 = F.softmax(model(image[None]), dim=1)[0, target_class]
        for r, top in enumerate(tops):
            for s, left in enumerate(lefts):
                occluded = image                      # not a copy: the patches accumulate
                occluded[:, top:top + patch, left:left + patch] = 0
                out[r, s] = p0 - F.softmax(model(occluded[None]), dim=1)[0, target_class]
    return out
''',
        loses={"test-occlusion": 2.25},
        note="each patch stays zeroed for the next positions, and the caller's image is destroyed",
    ),
    WrongAnswer(
        name="grad-cam-without-relu",
        cell="grad-cam",
        code=_GRAD_CAM_HOOKS + _GRAD_CAM_BACKWARD + '''    cam = (alpha * A).sum(dim=1, keepdim=True)
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
''',
        loses={"test-grad-cam": 2.4},
        note="negative evidence (regions that lower the score) is kept in the map",
    ),
    WrongAnswer(
        name="grad-cam-hooks-never-removed",
        cell="grad-cam",
        code=_GRAD_CAM_HOOKS + '''    scores = model(images)
    target = torch.as_tensor(target_class, device=scores.device).expand(len(images))
    scores.gather(1, target[:, None]).sum().backward()
    model.zero_grad(set_to_none=True)
    A, dA = saved["A"].detach(), saved["dA"].detach()
    alpha = dA.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((alpha * A).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
''',
        loses={"test-grad-cam": 1.6},
        note="every call leaves two more hooks on the layer, firing at every later forward pass",
    ),
    WrongAnswer(
        name="grad-cam-not-upsampled",
        cell="grad-cam",
        code=_GRAD_CAM_HOOKS + _GRAD_CAM_BACKWARD + '''    return F.relu((alpha * A).sum(dim=1))
''',
        loses={"test-grad-cam": 2.4, "test-localisation": 2.0},
        note="a 6x6 map cannot be laid over (or compared with the masks of) a 24x24 image",
    ),
    WrongAnswer(
        name="pointing-game-ignores-tolerance",
        cell="pointing-game",
        code='''def pointing_game(maps, masks, tolerance=1):
    masks = torch.as_tensor(masks).to(maps.device, torch.float32)
    n = len(maps)
    peaks = maps.detach().reshape(n, -1).argmax(dim=1)
    return float(masks.reshape(n, -1).gather(1, peaks[:, None]).mean())
''',
        loses={"test-pointing-game": 2.0},
    ),
    WrongAnswer(
        name="ascent-minimises-the-score",
        cell="score-ascent",
        code=_ASCENT_HEAD + '''    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(x)[0, target_class] + l2 * (x ** 2).sum()
        loss.backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    return x.detach()[0]
''',
        loses={"test-score-ascent": 1.5},
        note="the optimizer minimises: without the minus sign this is gradient descent on the score",
    ),
    WrongAnswer(
        name="ascent-updates-model-weights",
        cell="score-ascent",
        code=_ASCENT_HEAD + '''    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -(model(x)[0, target_class] - l2 * (x ** 2).sum())
        loss.backward()
        optimizer.step()
    return x.detach()[0]
''',
        loses={"test-score-ascent": 2.25},
        note="training the model to like the noise image instead of changing the image",
    ),
]
