"""Sample data written for inkforge (queries, few-shot corpus, labelled greetings, attack corpus)."""
