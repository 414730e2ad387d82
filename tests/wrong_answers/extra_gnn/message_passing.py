"""Typical mistakes in extra_gnn/message_passing.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_ADJ_HEAD = '''def normalized_adjacency(edge_index, num_nodes):
    A = torch.zeros(num_nodes, num_nodes)
'''

_MP_HEAD = '''def message_passing(x, edge_index, weight, aggregate="sum"):
    source, target = edge_index[0], edge_index[1]
    out = torch.zeros(x.shape[0], weight.shape[1], dtype=x.dtype)
'''

_GCN_TAIL = '''

class GCN(nn.Module):
    def __init__(self, in_features, hidden_features, num_classes, dropout=0.5):
        super().__init__()
        self.layer1 = GCNLayer(in_features, hidden_features)
        self.layer2 = GCNLayer(hidden_features, num_classes)
        self.p = dropout
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="adj-no-self-loops",
        cell="normalized-adjacency",
        code=_ADJ_HEAD + '''    A[edge_index[0], edge_index[1]] = 1.0
    A[edge_index[1], edge_index[0]] = 1.0
    d = A.sum(dim=1).pow(-0.5)
    return d[:, None] * A * d[None, :]
''',
        loses={"test-normalized-adjacency": 3.0},
        note="D^-1/2 A D^-1/2 without I: wrong values, and inf/nan for isolated nodes",
    ),
    WrongAnswer(
        name="adj-row-normalised",
        cell="normalized-adjacency",
        code=_ADJ_HEAD + '''    A[edge_index[0], edge_index[1]] = 1.0
    A[edge_index[1], edge_index[0]] = 1.0
    A = A + torch.eye(num_nodes)
    return A / A.sum(dim=1, keepdim=True)
''',
        loses={"test-normalized-adjacency": 3.0},
        note="D^-1 (A + I), the neighbourhood mean: not the GCN's symmetric normalisation",
    ),
    WrongAnswer(
        name="adj-not-symmetrised",
        cell="normalized-adjacency",
        code=_ADJ_HEAD + '''    A[edge_index[0], edge_index[1]] = 1.0
    A = A + torch.eye(num_nodes)
    d = A.sum(dim=1).pow(-0.5)
    return d[:, None] * A * d[None, :]
''',
        # the notebook's a_hat is directed too: its gcn reaches 0.73 instead of 0.98 (visible check, 66% credit)
        loses={"test-normalized-adjacency": 2.0, "test-node-classification": 0.2694},
        note="edges listed once stay directed; only the graphs listing both directions come out right",
    ),
    WrongAnswer(
        name="adj-symmetrise-by-adding-transpose",
        cell="normalized-adjacency",
        code=_ADJ_HEAD + '''    A[edge_index[0], edge_index[1]] = 1.0
    A = A + A.T + torch.eye(num_nodes)
    d = A.sum(dim=1).pow(-0.5)
    return d[:, None] * A * d[None, :]
''',
        loses={"test-normalized-adjacency": 1.0},
        note="A + A.T counts an edge listed in both directions twice",
    ),
    WrongAnswer(
        name="mp-aggregate-at-source",
        cell="message-passing",
        code=_MP_HEAD + '''    messages = (x @ weight)[target]
    if aggregate == "sum":
        return out.index_add(0, source, messages)
    if aggregate == "mean":
        count = torch.zeros(x.shape[0], dtype=x.dtype).index_add(0, source, torch.ones(len(source), dtype=x.dtype))
        return out.index_add(0, source, messages) / count.clamp(min=1)[:, None]
    return out.scatter_reduce(0, source[:, None].expand_as(messages), messages, reduce="amax", include_self=False)
''',
        loses={"test-message-passing": 3.2},
        note="messages sent against the edge direction (source and target swapped)",
    ),
    WrongAnswer(
        name="mp-mean-divides-by-num-nodes",
        cell="message-passing",
        code=_MP_HEAD + '''    messages = (x @ weight)[source]
    if aggregate == "sum":
        return out.index_add(0, target, messages)
    if aggregate == "mean":
        return out.index_add(0, target, messages) / x.shape[0]
    return out.scatter_reduce(0, target[:, None].expand_as(messages), messages, reduce="amax", include_self=False)
''',
        loses={"test-message-passing": 0.8},
    ),
    WrongAnswer(
        name="gcn-bias-before-aggregation",
        cell="gcn",
        code='''class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x, a_hat):
        return a_hat @ (self.linear(x) + self.bias)
''' + _GCN_TAIL + '''
    def forward(self, x, a_hat):
        h = F.dropout(F.relu(self.layer1(x, a_hat)), self.p, training=self.training)
        return self.layer2(h, a_hat)
''',
        loses={"test-gcn": 0.75},
        note="the bias is smoothed by A_hat, so a node's bias depends on its degree",
    ),
    WrongAnswer(
        name="gcn-dropout-in-eval-mode",
        cell="gcn",
        code='''class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x, a_hat):
        return a_hat @ self.linear(x) + self.bias
''' + _GCN_TAIL + '''
    def forward(self, x, a_hat):
        h = F.dropout(F.relu(self.layer1(x, a_hat)), self.p)  # training=True by default!
        return self.layer2(h, a_hat)
''',
        loses={"test-gcn": 0.75},
        note="F.dropout without training=self.training drops in eval mode: outputs random, not equivariant",
    ),
    WrongAnswer(
        name="train-on-all-labels",
        cell="train-node-classifier",
        code='''def train_node_classifier(model, x, a_hat, y, train_mask, epochs=200, lr=0.01, weight_decay=5e-4):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, a_hat), y)  # every node's label: a leak
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
''',
        loses={"test-node-classification": 3.2},
        note="uses the labels of the unlabelled nodes; the hidden graphs hide them (garbage labels)",
    ),
    WrongAnswer(
        name="gcn-trained-too-briefly",
        cell="gcn-training",
        code='''a_hat = normalized_adjacency(edge_index, num_nodes).to(device)
x_d, y_d, mask_d = x.to(device), y.to(device), train_mask.to(device)
torch.manual_seed(0)
gcn = GCN(16, 16, num_classes).to(device)
gcn_losses = train_node_classifier(gcn, x_d, a_hat, y_d, mask_d, epochs=5, lr=0.01)
''',
        loses={"test-node-classification": 0.8},
        note="5 epochs at lr=0.01: the notebook's gcn is barely trained",
    ),
]
