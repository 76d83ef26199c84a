"""``python -m render`` runs the lyria-render CLI."""

from .cli import main

if __name__ == "__main__":
    main()
