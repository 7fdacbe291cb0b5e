"""The ground floor: errors, shared types, file I/O, text helpers, the loop bridge and tasks.

Nothing here imports any other inkforge package.
"""
