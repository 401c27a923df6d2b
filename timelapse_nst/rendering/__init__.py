"""One still render's life: its inputs, where it goes, session, frame capture, checkpoints, interruption, progress, memory plan, status.

May import engine, settings, runfolder, images, errors. (Named ``rendering``: ``timelapse_nst.render`` is the API's function.)
"""
