"""The application layer both front ends call: recorded runs and their verdict, session queries, replays."""
