"""Intel SPI flash and ME firmware images: pure parsing, planning and patching; flashrom shell."""
