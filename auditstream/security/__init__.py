"""Least privilege for the stores and Kafka: who may do what, printed or applied."""
