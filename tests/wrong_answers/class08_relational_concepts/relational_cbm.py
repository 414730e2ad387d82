"""Typical mistakes in class08_relational_concepts/relational_cbm.ipynb and the points each must lose.

The hidden tests of the encoder swap in a reference `pair_features`, and those of `RelationalCBM`
and `intervene` use a reference encoder and predictor trained on secret towers, so a mistake in
one piece costs points in its own tests cell only.
"""

from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(
        name="pair-features-i-j-swapped",
        cell="pair-features",
        code='''def pair_features(X):
    N, n, d = X.shape
    first = X.unsqueeze(1).expand(N, n, n, d)
    second = X.unsqueeze(2).expand(N, n, n, d)
    return torch.cat([first, second], dim=-1)
''',
        # the right shape, but P[b, i, j] = [x_j; x_i]: top(i, j) would be read as top(j, i)
        loses={"test-pair-features": 2.0},
        note="unsqueeze on the wrong axes: the first half of P[b, i, j] is x_j, not x_i",
    ),
    WrongAnswer(
        name="encoder-returns-probabilities",
        cell="concept-encoder",
        code='''class RelationalConceptEncoder(nn.Module):
    def __init__(self, d, n_relations, hidden=32):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * d, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, n_relations), nn.Sigmoid(),
        )

    def forward(self, X):
        return self.mlp(pair_features(X))
''',
        # shapes and weight sharing are right; the outputs are probabilities in (0, 1), so every
        # "logit" is > 0 and every relation is predicted true: accuracy ~0.3, below the floor
        loses={"test-concept-encoder": 1.5},
        note="a final nn.Sigmoid: the encoder returns probabilities where logits are expected",
    ),
    WrongAnswer(
        name="predictor-sum-including-self",
        cell="task-predictor",
        code='''class RelationalTaskPredictor(nn.Module):
    def __init__(self, n_relations, hidden=32):
        super().__init__()
        self.message = nn.Sequential(
            nn.Linear(2 * n_relations, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.readout = nn.Linear(hidden, 1)

    def forward(self, C, mask):
        pairs = torch.cat([C, C.transpose(1, 2)], dim=-1)
        messages = self.message(pairs) * mask[:, None, :, None]     # padded j removed, but not j = i
        return self.readout(messages.sum(dim=2)).squeeze(-1)
''',
        loses={"test-task-predictor": 0.5},
        note="sum over all real j, the diagonal j = i included",
    ),
    WrongAnswer(
        name="predictor-flattens-neighbours",
        cell="task-predictor",
        code='''N_MAX = 6


class RelationalTaskPredictor(nn.Module):
    def __init__(self, n_relations, hidden=32):
        super().__init__()
        self.message = nn.Sequential(
            nn.Linear(2 * n_relations, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.readout = nn.Linear(N_MAX * hidden, 1)

    def forward(self, C, mask):
        n = mask.shape[1]
        pairs = torch.cat([C, C.transpose(1, 2)], dim=-1)
        valid = mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=mask.device)
        messages = self.message(pairs).masked_fill(~valid.unsqueeze(-1), 0.0)
        return self.readout(messages.flatten(start_dim=2)).squeeze(-1)
''',
        # the messages of all j concatenated in table order: not equivariant, and only for 6 disks
        loses={"test-task-predictor": 2.0},
        note="a linear layer over the flattened messages of all j instead of a max over j",
    ),
    WrongAnswer(
        name="predictor-padding-not-masked",
        cell="task-predictor",
        code='''class RelationalTaskPredictor(nn.Module):
    def __init__(self, n_relations, hidden=32):
        super().__init__()
        self.message = nn.Sequential(
            nn.Linear(2 * n_relations, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.readout = nn.Linear(hidden, 1)

    def forward(self, C, mask):
        n = mask.shape[1]
        pairs = torch.cat([C, C.transpose(1, 2)], dim=-1)
        not_self = ~torch.eye(n, dtype=torch.bool, device=mask.device)
        messages = self.message(pairs).masked_fill(~not_self.unsqueeze(-1), 0.0)
        return self.readout(messages.amax(dim=2)).squeeze(-1)
''',
        loses={"test-task-predictor": 0.5},
        note="the diagonal is masked but the padded disks still take part in the max",
    ),
    WrongAnswer(
        name="cbm-without-sigmoid",
        cell="relational-cbm",
        code='''class RelationalCBM(nn.Module):
    def __init__(self, encoder, predictor):
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor

    def forward(self, X, mask):
        concept_logits = self.encoder(X)
        return concept_logits, self.predictor(concept_logits, mask)
''',
        # the value check fails, and so do both accuracy checks: their trained predictor (a stand-in
        # answering as the reference does) is only asked about what the specification feeds it, the
        # probabilities (3 of 4 checks; the reference predictor reading raw logits had passed them
        # by accident under some held-out draws and not others)
        loses={"test-relational-cbm": 2.25},
        note="the predictor receives the concept logits instead of the probabilities",
    ),
    WrongAnswer(
        name="intervene-replaces-every-pair",
        cell="intervene",
        code='''def intervene(concept_logits, true_concepts, intervention_mask):
    probs = torch.sigmoid(concept_logits)
    probs[...] = true_concepts
    return probs
''',
        loses={"test-intervene": 3.0},
        note="the true values replace all the relations, not only the intervened pairs",
    ),
    WrongAnswer(
        name="intervene-without-sigmoid",
        cell="intervene",
        code='''def intervene(concept_logits, true_concepts, intervention_mask):
    return torch.where(intervention_mask.unsqueeze(-1), true_concepts, concept_logits)
''',
        loses={"test-intervene": 3.0},
        note="mixes 0/1 truths with logits: the non-intervened relations are not probabilities",
    ),
]
