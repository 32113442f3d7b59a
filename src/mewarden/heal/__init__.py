"""The self-healing controller shell: observe, decide (mewarden.policy), guard, act under lease."""
