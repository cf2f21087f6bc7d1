"""Templates of the local stack: the Kafka classpath POM, broker and logging configuration."""
