//! Real-server harness: start `redis-server` on 127.0.0.1, load a file, read every key back.
