"""The pipeline's nodes that stand for what lies outside AWS's services: the
databases functions write to (`databases`) and, later, the producers that call in.

They are here so a lesson can show what a queue is for: a database that goes down
fails the function, and the queue holds the messages until it is back.
"""
