"""The analyst report (``fanbase report``): one self-contained HTML page with the plots an
analyst looks at, each also written as a PNG beside it.

sections.py reads the gold and ops tables into small frames, figures.py draws them and
page.py lays the page out.
"""
