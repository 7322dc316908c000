from hazardwatch.cli import main

main()
