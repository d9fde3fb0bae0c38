"""Subsystems assembled from primitives: DynamoDB DNS automation, EC2, NLB, services, labs."""
