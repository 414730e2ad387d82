"""nbgrader on the hub, for students' servers and the formgrader alike: the exchange is the hub's
exchange service (graders.hub.exchange), not a folder; assignments go to a folder per course
(students may take several courses)."""

c = get_config()  # noqa: F821
for operation, name in {"exchange": "ServiceExchange", "fetch_assignment": "ExchangeFetchAssignment",
                        "fetch_feedback": "ExchangeFetchFeedback", "release_assignment": "ExchangeReleaseAssignment",
                        "release_feedback": "ExchangeReleaseFeedback", "list": "ExchangeList",
                        "submit": "ExchangeSubmit", "collect": "ExchangeCollect"}.items():
    setattr(c.ExchangeFactory, operation, f"graders.hub.exchange.client.{name}")
c.Exchange.path_includes_course = True
