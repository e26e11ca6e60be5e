"""Executors: submit lineages, receive finished generations as they complete, cancel."""
