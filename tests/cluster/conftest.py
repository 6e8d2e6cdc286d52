"""The brokers of the remote-executor tests (a RabbitMQ virtual host or a Redis database of the
test's own) serve the cluster tests too."""

from tests.runners.remote.conftest import rabbitmq_url, redis_url  # noqa: F401 - fixtures
