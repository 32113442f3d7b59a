"""IDE redirection (IDER): the SCSI/MMC CD-ROM target a BIOS or OS talks to, ISO 9660 and El
Torito checks (all pure), and the serving loop over the redirection session."""
